// Injected into the call page by the browser test (Playwright init script). It records, in two
// channels of one stream, what the page PLAYED — the agent's track from the page's
// <audio id="agent-audio">, i.e. after the browser's jitter buffer and decoder — and what its
// microphone CAPTURED (each stream getUserMedia hands the page), plus the agent state and
// status the page shows, stamped on the recorder's AudioContext clock. The page is not changed:
// this reads the same media and DOM a person's browser plays and shows.
//
// The channels are mixed into a MediaStreamAudioDestinationNode and recorded by MediaRecorder
// as uncompressed PCM (audio/webm;codecs=pcm): lossless, and it needs no script module, so the
// page's Content-Security-Policy stays as it is served.
(() => {
  const rec = {
    ctx: null,
    merger: null,
    played: null,
    mic: null,
    recorder: null,
    blobs: [],
    startedAt: null, // context time when recording started
    events: [], // [contextTime, kind, value]
    ready: null,
    stopped: null,
  };
  window.__recorder = rec;

  const note = (kind, value) => {
    rec.events.push([rec.ctx ? rec.ctx.currentTime : -1, kind, value]);
  };

  rec.ready = (async () => {
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    const merger = ctx.createChannelMerger(2);
    const sink = ctx.createMediaStreamDestination();
    sink.channelCount = 2;
    sink.channelCountMode = 'explicit';
    sink.channelInterpretation = 'discrete';
    merger.connect(sink);
    // a source of zeros keeps the graph rendering (and the recorder running) before any
    // track is connected and between tracks
    const zeros = ctx.createConstantSource();
    zeros.offset.value = 0;
    zeros.connect(merger, 0, 0);
    zeros.connect(merger, 0, 1);
    zeros.start();
    rec.ctx = ctx;
    rec.merger = merger;
    const recorder = new MediaRecorder(sink.stream, { mimeType: 'audio/webm;codecs=pcm' });
    recorder.ondataavailable = (e) => rec.blobs.push(e.data);
    rec.stopped = new Promise((resolve) => (recorder.onstop = resolve));
    await new Promise((resolve) => {
      recorder.onstart = () => {
        rec.startedAt = ctx.currentTime;
        resolve();
      };
      recorder.start(1000);
    });
    rec.recorder = recorder;
    note('recorder', 'started');
  })();

  rec.stop = async () => {
    rec.recorder.stop();
    await rec.stopped;
    const blob = new Blob(rec.blobs, { type: 'audio/webm' });
    rec.bytes = new Uint8Array(await blob.arrayBuffer());
    return rec.bytes.length;
  };

  const connect = (which, track) => {
    const old = rec[which];
    if (old) old.disconnect();
    const source = rec.ctx.createMediaStreamSource(new MediaStream([track]));
    source.connect(rec.merger, 0, which === 'played' ? 0 : 1);
    rec[which] = source;
    note(which, track.id);
  };

  // The fake devices have no acoustic path from the speaker to the microphone, and with no echo
  // to learn, the browser's echo canceller keeps suppressing the near end while the agent talks:
  // it chopped the barge-in sentence apart and delayed the agent's reaction by 0.3 to 2.3 s from
  // run to run. Without it the test times what the agent and the transport do.
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (constraints && constraints.audio) {
      const audio = typeof constraints.audio === 'object' ? constraints.audio : {};
      constraints = { ...constraints, audio: { ...audio, echoCancellation: false } };
    }
    const stream = await getUserMedia(constraints);
    const track = stream.getAudioTracks()[0];
    if (track) {
      await rec.ready;
      connect('mic', track);
    }
    return stream;
  };

  let playedTrack = null;
  setInterval(() => {
    const audio = document.getElementById('agent-audio');
    const stream = audio && audio.srcObject;
    const track = stream instanceof MediaStream ? stream.getAudioTracks()[0] : null;
    if (track && track !== playedTrack && rec.ctx) {
      playedTrack = track;
      connect('played', track);
    }
  }, 20);

  const observe = (id, kind) => {
    const element = document.getElementById(id);
    new MutationObserver(() => note(kind, element.textContent)).observe(element, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  };
  document.addEventListener('DOMContentLoaded', () => {
    observe('agent-state', 'state');
    observe('status', 'status');
  });
})();
