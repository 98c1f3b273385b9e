// The benchmarks' upstream: a plain Node HTTP server answering every request
// with 1 KiB, on 127.0.0.1 (port 0 unless given). Prints {"port":N} when up.
// Keep-alive is held longer than any client's pool (65 s) so that the figures
// measure the callers' connection reuse, not this server's idle timeout.
import http from 'node:http';

const BODY = Buffer.alloc(1024, 'x');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
