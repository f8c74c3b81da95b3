// Times ONNX Runtime (onnxruntime-node) on a model, the way `pier run
// --repeat --json` times Pier: engine runs only, after warm-up runs.
// Usage: node ort_run.js MODEL [-i input.npy]... [--threads N] [--repeat N] [--warmup N]
// Prints one JSON line: {"load_ms","runs","min_ms","median_ms","mean_ms","p90_ms"}.
const fs = require('fs');
const ort = require('onnxruntime-node');

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array],
};

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  if (!NPY_TYPES[descr]) throw new Error(`${path}: unsupported dtype ${descr}`);
  const [type, Arr] = NPY_TYPES[descr];
  const data = buf.subarray(off + hlen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new ort.Tensor(type, new Arr(copy.buffer), shape);
}

(async () => {
  const args = process.argv.slice(2);
  const inputs = [];
  let model = null, threads = 1, repeat = 20, warmup = 5;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-i') inputs.push(args[++i]);
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--repeat') repeat = Number(args[++i]);
    else if (args[i] === '--warmup') warmup = Number(args[++i]);
    else model = args[i];
  }
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  session.inputNames.forEach((name, k) => { feeds[name] = readNpy(inputs[k]); });
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const s = [...times].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  console.log(JSON.stringify({
    load_ms: loadMs, runs: n, min_ms: s[0], median_ms: median,
    mean_ms: times.reduce((a, b) => a + b, 0) / n, p90_ms: s[Math.min(n - 1, Math.round(0.9 * (n - 1)))],
  }));
})().catch(e => { console.error(`ort_run: ${e.message}`); process.exit(1); });
