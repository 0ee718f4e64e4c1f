// The page's peer connections, for the receiving side's jitter-buffer statistics (an init
// script, run before the page's own): window.__inboundAudio() lists the inbound-rtp audio
// statistics of every peer connection the page opened and has not closed. Used by the lab's
// browser caller and by the browser test's recorder.
(() => {
  const connections = [];
  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new NativePeerConnection(...args);
    connections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = NativePeerConnection.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, NativePeerConnection);
  window.__inboundAudio = async () => {
    const found = [];
    for (const pc of connections) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') found.push(s);
      });
    }
    return found;
  };
})();
