#!/usr/bin/env node
// The `animatorch` command: see `animatorch --help`. Parses and calls the programmatic API.
'use strict';
require('../dist/cli/cli.js').main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exitCode = 1;
  },
);
