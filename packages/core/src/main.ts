#!/usr/bin/env node
// berthd: parses flags and config, then runs the daemon library until SIGINT/SIGTERM.
import { runDaemon } from "@berth/client/daemon";
import { defaultBerthdConfig, loadBerthdConfig } from "./config/config.js";
import { startBerthd } from "./server/berthd.js";

runDaemon({
  name: "berthd",
  loadConfig: loadBerthdConfig,
  defaults: defaultBerthdConfig,
  start: startBerthd,
});
