// A minimal Node.js scoring server for comparison with `pier serve`: the
// `http` module and onnxruntime-node, serving the same POST /score contract
// ({"data": <nested array>} or {"data": {"<input>": ...}} ->
// {"result": ...}). No logging, no metrics, no validation beyond ORT's.
// Usage: node node_server.js MODEL [--port 8081] [--threads 1]
// Prints "listening on http://127.0.0.1:PORT" when ready.
const http = require('http');
const ort = require('onnxruntime-node');

const TYPED = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array,
  int64: BigInt64Array, bool: Uint8Array,
};

function toTensor(nested, type) {
  const shape = [];
  for (let v = nested; Array.isArray(v); v = v[0]) shape.push(v.length);
  const flat = shape.length ? nested.flat(Infinity) : [nested];
  const Arr = TYPED[type];
  const data = type === 'int64' ? BigInt64Array.from(flat, (x) => BigInt(x)) : Arr.from(flat);
  return new ort.Tensor(type, data, shape);
}

function toNested(t) {
  const flat = Array.from(t.data, (x) => (typeof x === 'bigint' ? Number(x) : x));
  const build = (dim, off) => {
    if (dim === t.dims.length) return flat[off];
    const stride = t.dims.slice(dim + 1).reduce((a, b) => a * b, 1);
    const out = new Array(t.dims[dim]);
    for (let i = 0; i < t.dims[dim]; i++) out[i] = build(dim + 1, off + i * stride);
    return out;
  };
  return build(0, 0);
}

(async () => {
  const args = process.argv.slice(2);
  let model = null, port = 8081, threads = 1;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else model = args[i];
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  // Input element types, from the model's metadata where this version has it.
  const types = {};
  const meta = session.inputMetadata || [];
  session.inputNames.forEach((name, k) => {
    const m = Array.isArray(meta) ? meta[k] : meta[name];
    types[name] = (m && m.type) || 'float32';
  });
  const reply = (res, status, obj) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/score') return reply(res, 404, { error: 'not found' });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const feeds = {};
        if (session.inputNames.length === 1 && (Array.isArray(data) || typeof data !== 'object')) {
          feeds[session.inputNames[0]] = toTensor(data, types[session.inputNames[0]]);
        } else {
          for (const name of session.inputNames) feeds[name] = toTensor(data[name], types[name]);
        }
        const out = await session.run(feeds);
        const names = session.outputNames;
        if (names.length === 1) return reply(res, 200, { result: toNested(out[names[0]]) });
        const result = {};
        for (const n of names) result[n] = toNested(out[n]);
        reply(res, 200, { result });
      } catch (e) {
        reply(res, 400, { error: String(e.message || e) });
      }
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
})().catch((e) => { console.error(`node_server: ${e.message}`); process.exit(1); });
