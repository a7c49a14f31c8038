import type { ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { streamCloseCodes } from '../../jobs/stream-protocol';
import { closeSocket } from './websocket-sink';
import type { SseSink } from './sse-sink';

/**
 * The open stream connections of one API process: pings them on a timer
 * (a WebSocket that missed the previous ping's pong is cut, so dead
 * connections do not pile up; SSE gets a comment line that keeps proxies
 * from timing out), and closes them all, with a reason, on shutdown.
 */
export class StreamConnections {
  readonly #sockets = new Map<WebSocket, { alive: boolean }>();
  readonly #sse = new Map<ServerResponse, SseSink>();
  readonly #timer: NodeJS.Timeout;

  constructor(pingMs: number) {
    this.#timer = setInterval(() => this.#ping(), pingMs);
    this.#timer.unref();
  }

  get count(): { websocket: number; sse: number } {
    return { websocket: this.#sockets.size, sse: this.#sse.size };
  }

  addSocket(socket: WebSocket): void {
    const state = { alive: true };
    this.#sockets.set(socket, state);
    socket.on('pong', () => (state.alive = true));
    socket.once('close', () => this.#sockets.delete(socket));
  }

  addSse(response: ServerResponse, sink: SseSink): void {
    this.#sse.set(response, sink);
    response.once('close', () => this.#sse.delete(response));
  }

  /** Server shutdown: every client is told why (1001 on WebSockets) and disconnected. */
  closeAll(reason = 'server shutting down'): void {
    clearInterval(this.#timer);
    for (const socket of this.#sockets.keys()) closeSocket(socket, 1001, reason);
    for (const response of this.#sse.keys()) response.end();
  }

  #ping(): void {
    for (const [socket, state] of this.#sockets) {
      if (!state.alive) {
        closeSocket(socket, streamCloseCodes.unresponsive, 'no pong to the last ping');
        socket.terminate();
        continue;
      }
      state.alive = false;
      socket.ping();
    }
    for (const sink of this.#sse.values()) sink.ping();
  }
}
