/**
 * Live captions from the agent's `lk.transcription` text streams.
 *
 * LiveKit Agents publishes each transcript segment (the agent's words as they are spoken, and
 * what the model heard from the caller) as text streams on that topic, tagged with the segment's
 * id. A segment may arrive as one stream of deltas or as several streams that each carry the
 * whole text so far; taking each stream's accumulated text as the segment's text covers both.
 */
import type { TextStreamReader } from 'livekit-client';

export const TRANSCRIPTION_TOPIC = 'lk.transcription';
const SEGMENT_ID = 'lk.segment_id';
const MAX_LINES = 50;

export class Captions {
  private readonly lines = new Map<string, HTMLLIElement>();

  constructor(
    private readonly list: HTMLOListElement,
    private readonly isCaller: (identity: string) => boolean,
  ) {}

  async read(reader: TextStreamReader, from: { identity: string }): Promise<void> {
    const segment = reader.info.attributes?.[SEGMENT_ID] ?? reader.info.id;
    const line = this.line(segment, this.isCaller(from.identity) ? 'you' : 'agent');
    let text = '';
    try {
      for await (const chunk of reader) {
        text += chunk;
        line.textContent = text;
      }
    } catch {
      // The call ended while the segment was streaming (hang-up, the agent left, the connection
      // dropped): the reader fails with "Room disconnected in the middle of receiving data".
      // What arrived stays on the page; the call's end is reported by the room's own events.
      line.dataset['cut'] = 'true';
    }
  }

  clear(): void {
    this.lines.clear();
    this.list.replaceChildren();
  }

  private line(segment: string, from: 'you' | 'agent'): HTMLLIElement {
    let line = this.lines.get(segment);
    if (line === undefined) {
      line = document.createElement('li');
      line.dataset['from'] = from;
      this.list.append(line);
      this.lines.set(segment, line);
      while (this.lines.size > MAX_LINES) {
        const [oldest] = this.lines.keys();
        if (oldest === undefined) break;
        this.lines.get(oldest)?.remove();
        this.lines.delete(oldest);
      }
    }
    return line;
  }
}
