#!/usr/bin/env node
// ONNX Runtime side of the runtime benchmark (bench/run-runtime-bench runs it), with the
// onnxruntime-node package the tests install in tests/io/ort.
//
//   node runtime_ort.js time DIR [--repeats N] [--threads 1,2]
//       Times DIR/cnn.onnx, DIR/cnn.int8.onnx, DIR/transformer.onnx and DIR/transformer.int8.onnx
//       (the int8 files are shrink's exported QDQ models) at batch 1 and 64. Prints one
//       tab-separated line per measurement:
//       result <engine> <model> <batch> <threads> <median ms> <min ms> <max ms>
//       cpu <engine> <model> <batch> <threads> <median process CPU ms per run>
//   node runtime_ort.js once MODEL BATCH THREADS
//       Creates one session and runs one batch (for peak-memory measurements with /usr/bin/time).
//
// Sessions use every graph optimization ORT has (level 'all', which fuses Conv+BN+ReLU and turns
// QDQ groups into QLinear/int8 kernels), `intraOpNumThreads` threads and sequential execution.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require(require.resolve('onnxruntime-node', {
  paths: [path.join(__dirname, '..', 'tests', 'io', 'ort', 'node_modules')],
}));

const SAMPLE = { cnn: [1, 28, 28], transformer: [128, 256] };

// Deterministic uniform [0, 1) values (xorshift), so that every run feeds the same data.
function randomInput(dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; ++i) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    data[i] = s / 4294967296;
  }
  return new ort.Tensor('float32', data, dims);
}

async function session(model, threads) {
  return ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3, // errors only: ORT warns about every unused initializer
  });
}

async function timeRuns(sess, feeds, repeats) {
  const t = process.hrtime.bigint();
  await sess.run(feeds); // warm-up
  const first = Number(process.hrtime.bigint() - t) / 1e9;
  if (first > 2.0) repeats = Math.max(3, Math.min(repeats, Math.floor(30 / first)));
  const ms = [];
  const cpu = [];
  for (let i = 0; i < repeats; ++i) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  ms.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return [ms[Math.floor(ms.length / 2)], ms[0], ms[ms.length - 1], cpu[Math.floor(cpu.length / 2)]];
}

async function timeAll(dir, repeats, threadList) {
  for (const model of ['cnn', 'transformer']) {
    for (const batch of [1, 64]) {
      const x = randomInput([batch, ...SAMPLE[model]], 7);
      for (const threads of threadList) {
        for (const [engine, file] of [['ort fp32', `${model}.onnx`], ['ort int8', `${model}.int8.onnx`]]) {
          const sess = await session(path.join(dir, file), threads);
          const [med, lo, hi, cpu] = await timeRuns(sess, { [sess.inputNames[0]]: x }, repeats);
          console.log(['result', engine, model, batch, threads, med.toFixed(3), lo.toFixed(3),
            hi.toFixed(3)].join('\t'));
          console.log(['cpu', engine, model, batch, threads, cpu.toFixed(3)].join('\t'));
        }
      }
    }
  }
}

async function once(model, batch, threads) {
  const sess = await session(model, threads);
  const kind = path.basename(model).startsWith('transformer') ? 'transformer' : 'cnn';
  const out = await sess.run({ [sess.inputNames[0]]: randomInput([batch, ...SAMPLE[kind]], 7) });
  const y = out[sess.outputNames[0]];
  console.log(`ran ${model}: output ${y.dims.join('x')}`);
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
  };
  if (args[0] === 'time' && args[1] && fs.existsSync(args[1])) {
    await timeAll(args[1], Number(opt('--repeats', 15)), opt('--threads', '1,2').split(',').map(Number));
  } else if (args[0] === 'once' && args.length === 4) {
    await once(args[1], Number(args[2]), Number(args[3]));
  } else {
    console.error('usage: node runtime_ort.js time DIR [--repeats N] [--threads 1,2]\n' +
      '       node runtime_ort.js once MODEL BATCH THREADS');
    process.exit(2);
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
