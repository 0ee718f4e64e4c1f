/**
 * The call page: one button to call the trunkline agent from this browser (the `webrtc` path).
 *
 * The page asks its server for a one-off join token (POST token: a new room with the agent
 * dispatched into it), joins with livekit-client, publishes the microphone and plays the
 * agent's track. Around the call it shows what a caller cannot otherwise see: the agent's state
 * (its `lk.agent.state` attribute), live captions, and each turn's latency measured here.
 */
import {
  DisconnectReason,
  type Participant,
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
} from 'livekit-client';

import { Captions, TRANSCRIPTION_TOPIC } from './captions';
import { Levels } from './levels';
import { type TurnTiming, TurnTimer } from './turns';

const AGENT_STATE = 'lk.agent.state';
/**
 * How long to wait for the dispatched agent before giving up on the call. Generous: a worker
 * run with `python agent.py dev` keeps no process warm and starts one per call, which takes
 * seconds on a laptop and half a minute on a busy machine.
 */
const AGENT_JOIN_TIMEOUT_MS = 60_000;

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no <${type.name}> #${id}`);
  return found;
}

const ui = {
  status: element('status', HTMLParagraphElement),
  call: element('call', HTMLButtonElement),
  mute: element('mute', HTMLButtonElement),
  hangup: element('hangup', HTMLButtonElement),
  agentState: element('agent-state', HTMLSpanElement),
  micLevel: element('mic-level', HTMLMeterElement),
  turns: element('turns', HTMLTableElement),
  captions: element('captions', HTMLOListElement),
  audio: element('agent-audio', HTMLAudioElement),
};

interface Grant {
  url: string;
  token: string;
  room: string;
}

function say(text: string): void {
  ui.status.textContent = text;
}

function showMuted(muted: boolean): void {
  ui.mute.setAttribute('aria-pressed', String(muted));
  ui.mute.textContent = muted ? 'Unmute' : 'Mute';
}

function showAgentState(state: string): void {
  ui.agentState.textContent = state;
  ui.agentState.dataset['state'] = state;
}

async function fetchGrant(): Promise<Grant> {
  const response = await fetch('token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{}',
  });
  if (response.status === 429) {
    const wait = response.headers.get('Retry-After') ?? 'a few';
    throw new Error(`Too many calls from your address: try again in ${wait} seconds.`);
  }
  if (!response.ok) {
    throw new Error(`The server refused a call token (HTTP ${response.status}).`);
  }
  return (await response.json()) as Grant;
}

function isAgent(participant: Participant): boolean {
  return participant.kind === ParticipantKind.AGENT;
}

/** One call: its room, meters and readouts; a new one for every press of Call. */
class Call {
  private readonly room = new Room({
    adaptiveStream: false,
    dynacast: false,
    // Muting stops the microphone itself (the browser's recording indicator goes out);
    // unmuting asks for it again.
    publishDefaults: { stopMicTrackOnMute: true },
    audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  private readonly turnTimer = new TurnTimer((timing) => this.showTurn(timing));
  private readonly captions = new Captions(
    ui.captions,
    (identity) => identity === this.room.localParticipant.identity,
  );
  private agentTimer: number | undefined;
  private ended = false;

  constructor(private readonly levels: Levels) {}

  async start(): Promise<void> {
    say('Getting a call token…');
    const grant = await fetchGrant();
    this.listen();
    say('Connecting…');
    await this.room.connect(grant.url, grant.token);
    say('Connected. Waiting for the agent…');
    showAgentState('joining');
    this.agentTimer = window.setTimeout(() => {
      void this.end(
        'No agent joined within a minute. Is the worker running (python agent.py dev) with ' +
          'the same AGENT_NAME as this server?',
      );
    }, AGENT_JOIN_TIMEOUT_MS);
    for (const participant of this.room.remoteParticipants.values()) this.joined(participant);
    await this.setMicrophone(true);
    ui.hangup.disabled = false;
    ui.mute.disabled = false;
  }

  async toggleMute(): Promise<void> {
    const muted = ui.mute.getAttribute('aria-pressed') === 'true';
    ui.mute.disabled = true;
    try {
      await this.setMicrophone(muted);
      showMuted(!muted);
    } catch (error) {
      say(`The microphone could not be ${muted ? 'turned on' : 'turned off'}: ${error}`);
    } finally {
      ui.mute.disabled = this.ended;
    }
  }

  async end(message: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    window.clearTimeout(this.agentTimer);
    say(message);
    showAgentState('not connected');
    ui.mute.disabled = true;
    showMuted(false);
    ui.hangup.disabled = true;
    await this.room.disconnect();
    ui.audio.srcObject = null;
    this.levels.untap('agent');
    this.levels.untap('mic');
    ui.micLevel.value = ui.micLevel.min;
    ui.call.disabled = false;
  }

  private listen(): void {
    const room = this.room;
    room.on(RoomEvent.ParticipantConnected, (participant) => this.joined(participant));
    room.on(RoomEvent.ParticipantAttributesChanged, (_changed, participant) => {
      if (isAgent(participant)) this.stateChanged(participant);
    });
    room.on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
      if (isAgent(participant) && track.kind === Track.Kind.Audio) this.playAgent(track);
    });
    room.on(RoomEvent.ParticipantDisconnected, (participant) => {
      if (isAgent(participant)) void this.end('The agent left the call.');
    });
    room.on(RoomEvent.Disconnected, (reason) => {
      void this.end(endMessage(reason));
    });
    room.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, from) => {
      void this.captions.read(reader, from);
    });
  }

  private joined(participant: RemoteParticipant): void {
    if (!isAgent(participant)) return;
    window.clearTimeout(this.agentTimer);
    say('In a call with the agent. Speak any time, even while it talks.');
    this.stateChanged(participant);
  }

  private stateChanged(agent: Participant): void {
    const state = agent.attributes[AGENT_STATE];
    if (state === undefined) return;
    this.turnTimer.agentStateChanged(state, this.levels.now);
    showAgentState(state);
  }

  private playAgent(track: RemoteTrack): void {
    track.attach(ui.audio);
    this.levels.tap('agent', track.mediaStreamTrack, (level) => this.turnTimer.agentAudio(level));
  }

  private async setMicrophone(on: boolean): Promise<void> {
    const publication = await this.room.localParticipant.setMicrophoneEnabled(on);
    const track = publication?.track?.mediaStreamTrack;
    if (!on || track === undefined) {
      this.levels.untap('mic');
      ui.micLevel.value = ui.micLevel.min;
      return;
    }
    // a restarted microphone is a new MediaStreamTrack: meter the one that is live now
    this.levels.tap('mic', track, (level) => {
      this.turnTimer.microphone(level);
      ui.micLevel.value = Math.max(ui.micLevel.min, level.dbfs);
    });
  }

  private showTurn(timing: TurnTiming): void {
    const [, heard] = turnRow(timing.turn).cells;
    if (heard) {
      heard.textContent = timing.heardMs === null ? '…' : `${timing.heardMs} ms`;
      if (timing.heardMs !== null) heard.dataset['ms'] = String(timing.heardMs);
    }
  }
}

/** The latency table's row for `turn`, added on first use. */
function turnRow(turn: number): HTMLTableRowElement {
  const id = `turn-${turn}`;
  const existing = document.getElementById(id);
  if (existing instanceof HTMLTableRowElement) return existing;
  const body = ui.turns.tBodies[0] ?? ui.turns.createTBody();
  const row = body.insertRow();
  row.id = id;
  row.dataset['turn'] = String(turn);
  row.insertCell().textContent = String(turn);
  row.insertCell();
  return row;
}

function endMessage(reason: DisconnectReason | undefined): string {
  switch (reason) {
    case DisconnectReason.CLIENT_INITIATED:
      return 'Call ended.';
    case DisconnectReason.ROOM_DELETED:
      return 'The agent ended the call.';
    default:
      return `Call ended: the connection was lost (${reason === undefined ? 'unknown' : DisconnectReason[reason]}).`;
  }
}

function main(): void {
  if (!window.isSecureContext || navigator.mediaDevices === undefined) {
    say(
      'The microphone needs a secure page: open this page over https://, or as ' +
        'http://localhost / http://127.0.0.1 on the machine serving it.',
    );
    return;
  }
  let levels: Levels | null = null;
  let call: Call | null = null;
  ui.call.addEventListener('click', () => {
    ui.call.disabled = true;
    ui.turns.tBodies[0]?.replaceChildren();
    ui.captions.replaceChildren();
    void (async () => {
      try {
        levels ??= await Levels.create();
        call = new Call(levels);
        await call.start();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (call !== null) await call.end(message);
        else {
          say(message);
          ui.call.disabled = false;
        }
      }
    })();
  });
  ui.mute.addEventListener('click', () => void call?.toggleMute());
  ui.hangup.addEventListener('click', () => void call?.end('Call ended.'));
  ui.call.disabled = false;
  say('Press Call to talk to the agent. Your browser will ask for the microphone.');
}

main();
