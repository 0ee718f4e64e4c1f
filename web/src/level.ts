/** Shared by the page and its audio-thread meter (levels.worklet.ts). */

/** Length of one level block: the resolution of every time the page measures. */
export const BLOCK_S = 0.01;

/** One block's mean-square level in dBFS (a full-scale square wave is 0), and when it began. */
export interface Level {
  /** AudioContext time of the block's first sample, in seconds. */
  t: number;
  dbfs: number;
}
