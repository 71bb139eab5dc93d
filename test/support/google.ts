/**
 * The helpers for talking to the Google Workspace emulator as the gateway talks to Google (the admin API client
 * `EmulatorAdmin`, our own JWT-bearer exchange, the real @googleapis clients pointed at the emulator) moved into the
 * emulator's package: test/google-workspace-emulator/src/testing.ts, imported as 'google-workspace-emulator/testing'.
 * This module keeps the gateway tests' imports of '../support/google' working.
 */
export * from 'google-workspace-emulator/testing';
