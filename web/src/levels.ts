/**
 * Level meters on the microphone and on the agent's audio, in one AudioContext.
 *
 * Each source feeds an AudioWorklet (levels.worklet.ts) and nothing else: the agent is heard
 * through its <audio> element, this graph only listens. One context gives every level and
 * every event the page stamps one clock (`now`), so latencies are differences on that clock.
 */
import type { Level } from './level';

type Listener = (level: Level) => void;

interface Tap {
  source: MediaStreamAudioSourceNode;
  node: AudioWorkletNode;
}

export class Levels {
  private readonly taps = new Map<string, Tap>();

  private constructor(private readonly context: AudioContext) {}

  /** Create it from a user gesture (the Call button): browsers start audio only after one. */
  static async create(): Promise<Levels> {
    const context = new AudioContext();
    await context.audioWorklet.addModule(new URL('levels.worklet.js', import.meta.url));
    await context.resume();
    return new Levels(context);
  }

  /** Seconds on the clock every level is stamped with. */
  get now(): number {
    return this.context.currentTime;
  }

  /** Meter `track` as `name`, replacing what was metered under that name before. */
  tap(name: string, track: MediaStreamTrack, listener: Listener): void {
    this.untap(name);
    const source = this.context.createMediaStreamSource(new MediaStream([track]));
    const node = new AudioWorkletNode(this.context, 'levels', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
    });
    node.port.onmessage = (event: MessageEvent<Level>) => listener(event.data);
    source.connect(node);
    this.taps.set(name, { source, node });
  }

  untap(name: string): void {
    const tap = this.taps.get(name);
    if (tap === undefined) return;
    tap.source.disconnect();
    tap.node.port.onmessage = null;
    this.taps.delete(name);
  }

  async close(): Promise<void> {
    for (const name of [...this.taps.keys()]) this.untap(name);
    await this.context.close();
  }
}
