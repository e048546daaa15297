#!/usr/bin/env node
import '../dist/src/cli/vla-finetune.js';
