/**
 * Waiting for a condition, never for a timer to win a race: `until` polls a read until it holds and fails naming what
 * it waited for and the last value seen. The deadline only turns a hang into a readable failure; no test passes or
 * fails because the machine was fast or slow. One implementation, the emulator package's (its own tests use it, and it
 * may import nothing of the gateway).
 */
export { until } from 'google-workspace-emulator/testing';
