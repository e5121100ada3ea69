import type { TLSSocket } from 'node:tls';

/** Closes a socket with an error, unless nobody listens for one (which would make it an uncaught exception). */
export function closeSocket(socket: TLSSocket, error: Error): void {
  socket.destroy(socket.listenerCount('error') > 0 ? error : undefined);
}
