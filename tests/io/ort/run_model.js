#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) for shrink's tests.
//
//   node run_model.js MODEL.onnx OUT_DIR INPUT0.npy [INPUT1.npy ...]
//
// Inputs are fed to the model's inputs in order; output i is written to OUT_DIR/ort_output_<i>.npy.
// Supported .npy types: <f4, <i8, <i4, |u1, |i1, |b1 (C order, little-endian).
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TYPES = {
  '<f4': ['float32', Float32Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array],
  '|i1': ['int8', Int8Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const type = TYPES[descr];
  if (!type) throw new Error(`${file}: unsupported dtype ${descr}`);
  const [name, Ctor] = type;
  const bytes = buf.subarray(start);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  let data = new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
  if (name === 'bool') data = Uint8Array.from(data);
  return new ort.Tensor(name, name === 'bool' ? Array.from(data, (v) => v !== 0) : data, dims);
}

function writeNpy(file, tensor) {
  const descr = {
    float32: '<f4', int64: '<i8', int32: '<i4', uint8: '|u1', int8: '|i1', bool: '|b1',
  }[tensor.type];
  if (!descr) throw new Error(`output type ${tensor.type} cannot be written`);
  const dims = tensor.dims;
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let body;
  if (tensor.type === 'bool') {
    body = Buffer.from(Array.from(tensor.data, (v) => (v ? 1 : 0)));
  } else {
    body = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  }
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [model, outDir, ...inputs] = process.argv.slice(2);
  if (!model || !outDir) {
    console.error('usage: node run_model.js MODEL.onnx OUT_DIR INPUT0.npy [INPUT1.npy ...]');
    process.exit(2);
  }
  // Only basic graph optimizations: the test compares numerics, and fused kernels may reorder
  // floating-point sums more than the tolerance allows.
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'basic',
    executionProviders: ['cpu'],
  });
  if (inputs.length !== session.inputNames.length) {
    throw new Error(`model has ${session.inputNames.length} inputs, ${inputs.length} given`);
  }
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    feeds[name] = readNpy(inputs[i]);
  });
  const results = await session.run(feeds);
  session.outputNames.forEach((name, i) => {
    writeNpy(path.join(outDir, `ort_output_${i}.npy`), results[name]);
  });
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
