/**
 * `convscope serve [--port N]`: the web page (web/, built by `npm run build` into web/dist/)
 * on http://127.0.0.1:N/. If the folder is not built yet it is built first, with Vite's
 * own build() (a devDependency, as the page's sources are).
 *
 * The server is node:http: no static-server package is installed (Vite's preview server
 * would pull Vite into every `serve` run), and serving one folder of files to the local
 * machine needs only a path check, content types and no caching.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../context.ts';
import type { CommandResult } from './common.ts';

export const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));
export const WEB_DIST = path.join(WEB_ROOT, 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** Builds web/ into web/dist/ with Vite (the same as `npm run build`). */
export async function buildWeb(o: { quiet?: boolean } = {}): Promise<string> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new UsageError(`the web page is not built (${WEB_DIST} is missing) and Vite is not installed to build it: run 'npm install' and then 'npm run build'`);
  }
  await vite.build({ configFile: path.join(WEB_ROOT, 'vite.config.ts'), logLevel: o.quiet ? 'silent' : 'warn' });
  return WEB_DIST;
}

export function isBuilt(dir = WEB_DIST): boolean {
  return fs.existsSync(path.join(dir, 'index.html'));
}

/** Serves `dir` (and nothing outside it) on 127.0.0.1. Port 0: any free port. */
export async function serveFolder(dir: string, port = 0): Promise<{ server: http.Server; url: string }> {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    const file = path.resolve(root, '.' + (pathname.endsWith('/') ? pathname + 'index.html' : pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${pathname}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new UsageError(`--port ${port}: the port is in use; pick another (or --port 0 for any free one)`) : e),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** The command: build if needed, serve, print the URL, run until interrupted. */
export async function serveCommand(f: { port: number; rebuild?: boolean; json?: boolean }): Promise<CommandResult> {
  if (!(Number.isInteger(f.port) && f.port >= 0 && f.port <= 65535)) throw new UsageError(`--port must be a whole number from 0 to 65535; got ${f.port}`);
  if (f.rebuild || !isBuilt()) {
    process.stderr.write(`building the web page into ${WEB_DIST} (npm run build)...\n`);
    await buildWeb();
  }
  const { server, url } = await serveFolder(WEB_DIST, f.port);
  if (f.json) process.stdout.write(JSON.stringify({ command: 'serve', url, folder: WEB_DIST }) + '\n');
  else process.stdout.write(`convscope web page: ${url}\n(open it in Chrome or Edge; Ctrl+C stops the server)\n`);
  // runs until interrupted; Ctrl+C ends the process here, so nothing is printed twice
  return new Promise<CommandResult>(() => {
    const stop = () => {
      server.closeAllConnections();
      server.close(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
