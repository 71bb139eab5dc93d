/**
 * Calendar state that is not per user (settings, watch channels) lives in the core's module data, so that
 * `POST /emulator/v1/reset` drops it with everything else.
 */
import type { EmulatorState } from '../state';
import { defaultCalendarSettings, type CalendarSettings } from './settings';

const SETTINGS_KEY = 'calendar.settings';

export function calendarSettings(state: EmulatorState): CalendarSettings {
  return state.moduleData(SETTINGS_KEY, defaultCalendarSettings);
}

export function setCalendarSettings(state: EmulatorState, settings: CalendarSettings): void {
  state.globalData.set(SETTINGS_KEY, settings);
}
