/**
 * The sections of the setup guide a brokerage's Google Workspace admin follows (docs/admin-setup-guide.md, shipped
 * in this repository), by the step they explain. A remedy names the step and points at its section, so an admin reading
 * an error finds the instructions; test/google/setup-guide.test.ts fails when a heading no longer has its anchor.
 */
export const SETUP_GUIDE = 'docs/admin-setup-guide.md';

/** GitHub-style anchors of the guide's numbered steps. */
export const GUIDE_SECTIONS = {
  project: '1-create-a-google-cloud-project',
  serviceAccount: '2-create-the-service-account',
  key: '3-create-and-download-a-json-key',
  delegation: '4-authorize-the-client-id-for-domain-wide-delegation',
  apis: '5-enable-the-people-calendar-and-gmail-apis',
  submit: '6-submit-the-key-and-a-test-user',
} as const;

export type GuideSection = keyof typeof GUIDE_SECTIONS;

/** The sentence a remedy ends with: where the guide explains `section`. */
export function seeGuide(section: GuideSection): string {
  return `Setup guide: ${SETUP_GUIDE}#${GUIDE_SECTIONS[section]}.`;
}
