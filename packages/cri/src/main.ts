#!/usr/bin/env node
// berth-cri: parses flags and config, then runs the CRI daemon library until SIGINT/SIGTERM.
import { runDaemon } from "@berth/client/daemon";
import { defaultCriConfig, loadCriConfig } from "./config.js";
import { startBerthCri } from "./server.js";

runDaemon({ name: "berth-cri", loadConfig: loadCriConfig, defaults: defaultCriConfig, start: startBerthCri });
