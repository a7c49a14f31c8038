import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';

/**
 * What a WebSocket error says about: the client (a frame over the 64 KiB
 * limit, invalid UTF-8, a bad opcode — `ws` names these `WS_ERR_*` — or a
 * connection reset), or the server.
 */
function isClientFault(error: Error & { code?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  return code.startsWith('WS_ERR_') || ['ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code);
}

/**
 * The `errorHandler` of @fastify/websocket. Its default logs every socket
 * error at error level with a stack trace, so one client sending an oversized
 * frame wrote an error-level stack into the server's logs (issue 17, item
 * 18): what a client does wrong is a warning, with its code and message and
 * no stack. `ws` has already failed the connection with the right close code
 * (1009 for a frame too large); the socket is then cut, as the default does.
 */
export function websocketErrorHandler(error: Error, socket: WebSocket, request: FastifyRequest): void {
  const { code } = error as Error & { code?: unknown };
  if (isClientFault(error)) {
    request.log.warn({ ws_error: { code, message: error.message } }, 'websocket client error');
  } else {
    request.log.error({ err: error }, 'websocket failed');
  }
  socket.terminate();
}
