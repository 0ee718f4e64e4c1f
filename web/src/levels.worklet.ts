/**
 * Runs on the audio thread: the level of each 10 ms block of its input, stamped with the
 * AudioContext time of the block's first sample.
 *
 * The page times turns from these stamps, so they must not depend on when the main thread gets
 * round to reading them: timers are throttled in background tabs, the audio thread is not.
 */
import { BLOCK_S, type Level } from './level';

class LevelProcessor extends AudioWorkletProcessor {
  private readonly block = Math.round(sampleRate * BLOCK_S);
  private sum = 0;
  private count = 0;
  private first = 0;

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0] ?? [];
    const frames = channels[0]?.length ?? 0;
    for (let i = 0; i < frames; i++) {
      if (this.count === 0) this.first = currentFrame + i;
      let square = 0;
      for (const channel of channels) {
        const x = channel[i] ?? 0;
        square += x * x;
      }
      this.sum += square / channels.length;
      this.count += 1;
      if (this.count === this.block) {
        const level: Level = {
          t: this.first / sampleRate,
          dbfs: 10 * Math.log10(Math.max(this.sum / this.count, 1e-20)),
        };
        this.port.postMessage(level);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor('levels', LevelProcessor);
