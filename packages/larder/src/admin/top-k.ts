// Moved to core/top-k.ts (neutral: the admin monitor and the warmer both use it).
export { KeySampler, type SampledKey, TopK, type TopItem } from '../core/top-k.ts'
