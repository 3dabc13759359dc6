#!/usr/bin/env node
// Runs the bundled teacher ONNX files in ONNX Runtime for Node on the reference inputs written
// by export_reference.py and compares with the PyTorch logits saved there.
//
// Setup (outside the repository):  mkdir -p /tmp/ort && cd /tmp/ort && npm install --ignore-scripts onnxruntime-node
// Usage:  NODE_PATH=/tmp/ort/node_modules node scripts/models/check_onnxruntime.js examples/models
// Exits non-zero when a model's max |ORT - PyTorch| exceeds the tolerance or the argmax differs.

'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

// Minimal .npy (format 1.x/2.x, little-endian, C order) reader for <f4 and <i8 arrays.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order not supported`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const bytes = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length);
  if (descr === '<f4') return {type: 'float32', shape, data: new Float32Array(bytes)};
  if (descr === '<i8') return {type: 'int64', shape, data: new BigInt64Array(bytes)};
  throw new Error(`${file}: dtype ${descr} not supported`);
}

function argmaxRows(data, width) {
  const out = [];
  for (let r = 0; r < data.length / width; ++r) {
    let best = 0;
    for (let c = 1; c < width; ++c) if (data[r * width + c] > data[r * width + best]) best = c;
    out.push(best);
  }
  return out;
}

async function check(dir, model, suffix, tolerance) {
  const input = readNpy(path.join(dir, `${model}.ref_input${suffix}.npy`));
  const expected = readNpy(path.join(dir, `${model}.ref_logits${suffix}.npy`));
  const session = await ort.InferenceSession.create(path.join(dir, `${model}.onnx`));
  const feeds = {input: new ort.Tensor(input.type, input.data, input.shape)};
  const result = await session.run(feeds);
  const got = result.logits;
  if (JSON.stringify(got.dims) !== JSON.stringify(expected.shape)) {
    throw new Error(`${model}${suffix}: output shape ${got.dims} != expected ${expected.shape}`);
  }
  let maxDiff = 0;
  for (let i = 0; i < got.data.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - expected.data[i]));
  const width = expected.shape[expected.shape.length - 1];
  const a = argmaxRows(got.data, width);
  const b = argmaxRows(expected.data, width);
  const argmaxEqual = a.every((v, i) => v === b[i]);
  const ok = maxDiff <= tolerance && argmaxEqual;
  console.log(`${model}${suffix}: input [${input.shape}] output [${got.dims}] max|diff| ${maxDiff.toExponential(3)} ` +
              `argmax equal ${argmaxEqual} -> ${ok ? 'OK' : 'FAIL'}`);
  return ok;
}

async function main() {
  const dir = process.argv[2] || 'examples/models';
  const checks = [
    ['fmnist-resnet', '', 1e-3],
    ['fortunes-gpt', '', 1e-3],
    ['fortunes-gpt', '_short', 1e-3],
  ];
  let ok = true;
  for (const [model, suffix, tol] of checks) {
    if (!fs.existsSync(path.join(dir, `${model}.onnx`))) {
      console.log(`${model}: no ONNX file in ${dir}, skipped`);
      continue;
    }
    ok = (await check(dir, model, suffix, tol)) && ok;
  }
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version}`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
