// Socket.IO emits that wait for their acknowledgement: a missing socket or
// a server that does not answer in time becomes an ordinary error ack
// ({ ok: false, error: { code, message } }), like the server's own.
import { state } from './state.js';

const ACK_TIMEOUT = 15_000;

export async function emitAck(event, payload) {
  if (!state.socket) return { ok: false, error: { code: 'offline', message: 'not connected' } };
  try {
    return await state.socket.timeout(ACK_TIMEOUT).emitWithAck(event, payload);
  } catch {
    return { ok: false, error: { code: 'timeout', message: 'the server did not answer; try again' } };
  }
}
