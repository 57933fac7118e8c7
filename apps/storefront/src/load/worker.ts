/**
 * Runs the workload on its own thread (its own event loop and core), so the load generator
 * does not compete with the gateway and origin it measures for one event loop.
 * Messages: { type: 'measuring' } after warm-up, { type: 'progress', … }, { type: 'done', report }.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { runWorkload, type WorkloadOptions } from './workload.ts'

const options = workerData as WorkloadOptions
const report = await runWorkload({
  ...options,
  onMeasuring: () => parentPort?.postMessage({ type: 'measuring' }),
  onProgress: (done, total, r) => parentPort?.postMessage({ type: 'progress', done, total, report: r }),
})
parentPort?.postMessage({ type: 'done', report })
