/**
 * Per-turn latency as the caller lives it, measured in the page.
 *
 * A turn runs from the moment the caller stops talking to the moment the reply starts to sound.
 * Both ends come from audio the page itself handles, on one clock (levels.ts):
 * - the caller's end of speech: the end of the last microphone block above CALLER_VOICE_DBFS
 *   (the microphone as the page gets it, after the browser's echo cancellation and noise
 *   suppression);
 * - the reply heard: the first block of the agent's audio above AGENT_AUDIBLE_DBFS after that,
 *   as the page receives it from the browser's jitter buffer — what the speaker plays.
 * A turn is taken when the agent's `lk.agent.state` leaves `listening` after the caller has
 * spoken: that is the agent answering, as opposed to a cough it let pass. The greeting is not a
 * turn (nobody spoke before it).
 */
import { BLOCK_S, type Level } from './level';

/** Speech at a microphone sits well above this; a quiet room after noise suppression below. */
export const CALLER_VOICE_DBFS = -50;
/** The agent's audio is clean synthesis: between replies it is (decoded) silence. */
export const AGENT_AUDIBLE_DBFS = -50;

export interface TurnTiming {
  turn: number;
  /** From the caller's end of speech to the reply's first sound; null until it sounds. */
  heardMs: number | null;
}

export class TurnTimer {
  private agentState = '';
  private lastVoiceEnd: number | null = null;
  private spokeSinceLastTurn = false;
  /** Start of the agent's current run of audible blocks, if it is audible now. */
  private agentOnset: number | null = null;
  private pending: { turn: number; callerEnd: number } | null = null;
  private turns = 0;

  constructor(private readonly onTurn: (timing: TurnTiming) => void) {}

  microphone(level: Level): void {
    if (level.dbfs > CALLER_VOICE_DBFS) {
      this.lastVoiceEnd = level.t + BLOCK_S;
      this.spokeSinceLastTurn = true;
    }
  }

  agentAudio(level: Level): void {
    if (level.dbfs <= AGENT_AUDIBLE_DBFS) {
      this.agentOnset = null;
      return;
    }
    this.agentOnset ??= level.t;
    this.settle();
  }

  /** The agent's state changed to `state` at `at` (seconds on the levels' clock). */
  agentStateChanged(state: string, at: number): void {
    const leftListening = this.agentState === 'listening' && state !== 'listening';
    this.agentState = state;
    if (!leftListening || !this.spokeSinceLastTurn || this.lastVoiceEnd === null) return;
    if (at < this.lastVoiceEnd) return; // a state change the page saw before that voice ended
    this.turns += 1;
    this.spokeSinceLastTurn = false;
    this.pending = { turn: this.turns, callerEnd: this.lastVoiceEnd };
    this.onTurn({ turn: this.turns, heardMs: null });
    // the reply may already be sounding: media can overtake the state change's signalling
    this.settle();
  }

  private settle(): void {
    const pending = this.pending;
    const onset = this.agentOnset;
    if (pending === null || onset === null || onset < pending.callerEnd) return;
    this.pending = null;
    this.onTurn({ turn: pending.turn, heardMs: Math.round((onset - pending.callerEnd) * 1000) });
  }
}
