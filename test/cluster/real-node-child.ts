// A test process that starts a cluster with a real node and then waits to be
// killed (real-node.test.ts kills it with SIGKILL to leave what a killed run
// leaves). Prints {"ready": true} once the node is Ready.
import { startCluster } from './harness.ts';

const cluster = await startCluster({ node: true });
process.stdout.write(`${JSON.stringify({ ready: true, dir: cluster.dir })}\n`);
setInterval(() => {}, 60_000);
