// A file download an upstream can hold back, for tests of what stops a transfer in progress (a
// job that loses its lock): the whole file, or only its first bytes and then nothing, the
// response left open until the client ends it. Each download is recorded with whether the client
// closed it before the end.
import type { ServerResponse } from 'node:http';

export interface HeldDownload {
  held: boolean;
  /** The client ended the transfer before the last byte. */
  closedByClient: boolean;
}

/** Answers with bytes (whole, or when held its first 100 and no more), recording the download. */
export function serveDownload(res: ServerResponse, bytes: Buffer, held: boolean, downloads: HeldDownload[]): void {
  const download: HeldDownload = { held, closedByClient: false };
  downloads.push(download);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
  if (!held) return void res.end(bytes);
  res.write(bytes.subarray(0, 100)); // then nothing: the transfer goes on until the client ends it
  res.on('close', () => (download.closedByClient = !res.writableFinished));
}
