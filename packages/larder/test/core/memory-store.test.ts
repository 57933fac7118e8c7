import { memoryStore } from 'larder'
import { storeConformance } from 'larder/testing'

storeConformance('memory (L1)', () => memoryStore({ maxEntries: 10_000, maxBytes: 64 * 2 ** 20 }))
