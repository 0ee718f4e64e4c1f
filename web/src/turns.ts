/**
 * Per-turn latency as the caller lives it, measured in the page.
 *
 * A turn starts when the caller stops talking and ends when they hear the reply begin. Both
 * ends are taken from audio the page itself handles, on one clock (levels.ts):
 * - the caller's end of speech: the end of the last microphone block above
 *   CALLER_VOICE_DBFS before the agent left `listening` (the microphone as the page gets it,
 *   after the browser's echo cancellation and noise suppression);
 * - the reply heard: the first block of the agent's audio above AGENT_AUDIBLE_DBFS after that,
 *   as the page receives it from the browser's jitter buffer, i.e. what the speaker plays.
 * "Noticed" is when the agent's `lk.agent.state` left `listening`: the model's turn detection
 * plus the trip of the attribute back to the page. The greeting is not a turn (nobody spoke).
 */
import { BLOCK_S, type Level } from './level';

/** Speech at a microphone sits well above this; a quiet room after noise suppression below. */
export const CALLER_VOICE_DBFS = -50;
/** The agent's audio is clean synthesis: between replies it is digital silence. */
export const AGENT_AUDIBLE_DBFS = -50;

export interface TurnTiming {
  turn: number;
  noticedMs: number;
  /** null until the reply is heard. */
  heardMs: number | null;
}

interface Pending {
  turn: number;
  callerEnd: number;
  noticedMs: number;
}

export class TurnTimer {
  private agentState = '';
  private lastVoiceEnd: number | null = null;
  private spokeSinceLastTurn = false;
  private pending: Pending | null = null;
  private turns = 0;

  constructor(private readonly onTurn: (timing: TurnTiming) => void) {}

  microphone(level: Level): void {
    if (level.dbfs > CALLER_VOICE_DBFS) {
      this.lastVoiceEnd = level.t + BLOCK_S;
      this.spokeSinceLastTurn = true;
    }
  }

  agentAudio(level: Level): void {
    const pending = this.pending;
    if (pending === null || level.dbfs <= AGENT_AUDIBLE_DBFS || level.t < pending.callerEnd) return;
    this.pending = null;
    this.onTurn({
      turn: pending.turn,
      noticedMs: pending.noticedMs,
      heardMs: toMs(level.t - pending.callerEnd),
    });
  }

  /** The agent's state changed to `state` at `at` (seconds on the levels' clock). */
  agentStateChanged(state: string, at: number): void {
    const leftListening = this.agentState === 'listening' && state !== 'listening';
    this.agentState = state;
    if (!leftListening || !this.spokeSinceLastTurn || this.lastVoiceEnd === null) return;
    this.turns += 1;
    this.spokeSinceLastTurn = false;
    const noticedMs = toMs(at - this.lastVoiceEnd);
    this.pending = { turn: this.turns, callerEnd: this.lastVoiceEnd, noticedMs };
    this.onTurn({ turn: this.turns, noticedMs, heardMs: null });
  }
}

function toMs(seconds: number): number {
  return Math.round(seconds * 1000);
}
