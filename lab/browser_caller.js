// Injected into the product's call page by the lab's browser caller (a Playwright init script):
// the page is served and runs as a person's browser runs it; this only stands in for the person.
//
// - Microphone: getUserMedia hands the page a track fed by this script's AudioContext, into
//   which the lab plays each caller clip (window.__lab.say) when the conversation calls for it —
//   exact timing, where the fake capture device can only play one file from the start.
// - Ear: what the page PLAYS — the agent's track on <audio id="agent-audio">, after the
//   browser's jitter buffer and Opus decoder — is tapped by a ScriptProcessorNode (no script
//   module needed: the page's Content-Security-Policy stays as served) and handed over in
//   blocks, each with the context time it was rendered and the wall clock when the block was
//   seen (window.__lab.take): the lab maps context time to the wall clock with the tightest
//   pair it has seen.
// The jitter buffer's statistics come from inbound_audio.js, injected beside this script.
(() => {
  const RATE = 48000;
  const BLOCK = 1024;
  const lab = {
    ctx: null,
    mic: null,
    played: null,
    playedTrack: null,
    blocks: [],
    up: false,
    ready: null,
  };
  window.__lab = lab;
  const wall = () => performance.timeOrigin + performance.now();

  lab.ready = (async () => {
    const ctx = new AudioContext({ sampleRate: RATE });
    await ctx.resume();
    lab.ctx = ctx;
    const mic = ctx.createMediaStreamDestination();
    mic.channelCount = 1;
    lab.mic = mic;
    const tap = ctx.createScriptProcessor(BLOCK, 1, 1);
    tap.onaudioprocess = (event) => {
      const x = event.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const v = Math.max(-1, Math.min(1, x[i]));
        pcm[i] = Math.round(v * 32767);
      }
      // the block's last sample was rendered by now: currentTime, read where the block arrives
      lab.blocks.push([ctx.currentTime, wall(), pcm]);
    };
    // zeros keep the tap running before the agent's track exists and between tracks
    const zeros = ctx.createConstantSource();
    zeros.offset.value = 0;
    zeros.connect(tap);
    zeros.start();
    const mute = ctx.createGain();
    mute.gain.value = 0;
    tap.connect(mute);
    mute.connect(ctx.destination);
    lab.tap = tap;
  })();

  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (constraints && constraints.audio && !constraints.video) {
      await lab.ready;
      return new MediaStream([lab.mic.stream.getAudioTracks()[0].clone()]);
    }
    return getUserMedia(constraints);
  };

  lab.say = async (b64) => {
    await lab.ready;
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer);
    const buffer = lab.ctx.createBuffer(1, pcm.length, RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const source = lab.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(lab.mic);
    await new Promise((resolve) => {
      source.onended = resolve;
      source.start();
    });
    source.disconnect();
    return wall();
  };

  lab.take = () => {
    const blocks = lab.blocks;
    lab.blocks = [];
    const total = blocks.reduce((n, b) => n + b[2].length, 0);
    const all = new Int16Array(total);
    let at = 0;
    for (const b of blocks) {
      all.set(b[2], at);
      at += b[2].length;
    }
    const bytes = new Uint8Array(all.buffer);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    const hangup = document.getElementById('hangup');
    if (hangup && !hangup.disabled) lab.up = true;
    return {
      context: blocks.map((b) => b[0]),
      wall: blocks.map((b) => b[1]),
      sizes: blocks.map((b) => b[2].length),
      pcm: btoa(s),
      agentTrack: lab.playedTrack !== null,
      ended: lab.up && (!hangup || hangup.disabled),
    };
  };

  setInterval(() => {
    const audio = document.getElementById('agent-audio');
    const stream = audio && audio.srcObject;
    const track = stream instanceof MediaStream ? stream.getAudioTracks()[0] : null;
    if (track && track !== lab.playedTrack && lab.tap) {
      if (lab.played) lab.played.disconnect();
      lab.played = lab.ctx.createMediaStreamSource(new MediaStream([track]));
      lab.played.connect(lab.tap);
      lab.playedTrack = track;
    }
  }, 20);
})();
