/**
 * Requests and responses made with express's prototypes from the start, for node's HTTP server to construct (its
 * `IncomingMessage` and `ServerResponse` options).
 *
 * Express gives each request and response its own prototypes with `Object.setPrototypeOf` (app.handle). Changing the
 * prototype of an object V8 has already shaped is costly, and worse, it kept every object alive at a young-generation
 * collection alive through the next one, so each was promoted to the old generation. Measured on a plain node:http
 * server answering `{"status":"ok"}` at 10 connections on one core: 105,000 requests/s; with express's two
 * `setPrototypeOf` calls added, 30,000, and a promotion rate of 99.9% instead of 0%. In the gateway, under
 * `{ me { id } }`, 40 MB/s reached the old generation and a mark-compact paused the process for 5 to 11 ms every
 * 0.4 s: most of that request's p99. Made with the prototypes already, express's call changes nothing (V8 returns at
 * once when the prototype is the one the object has).
 *
 * Node's IncomingMessage and ServerResponse are plain constructor functions, so a function that calls them on a new
 * object whose prototype is express's is a complete replacement (node's own subclassing example does the same with
 * classes).
 */
import { IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

type Init = (this: unknown, ...args: unknown[]) => void;

export function withExpressPrototypes(
  app: Express,
): Required<Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'>> {
  function Request(this: IncomingMessage, socket: Socket): void {
    (IncomingMessage as unknown as Init).call(this, socket);
  }
  Request.prototype = app.request;
  function Response(this: ServerResponse, req: IncomingMessage, options?: unknown): void {
    (ServerResponse as unknown as Init).call(this, req, options);
  }
  Response.prototype = app.response;
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}
