/**
 * A plain HTTP GET for e2e specs that must see every answer, errors included: resolves with the
 * status and the body (parsed when it is JSON, else the text); a connection error or the client
 * timeout (only a hang reaches it) resolves with status 0 and the error's message.
 */
import * as http from 'node:http';

export interface HttpAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON; the assertions check it
  body: any;
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  /** Default 60 s. */
  timeoutMs?: number;
}

export function httpGet(
  port: number,
  path: string,
  opts: HttpGetOptions = {},
): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // a text answer
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
  });
}
