/**
 * The remedies an admin reads point at the setup guide shipped in docs/ (issue 17 §6): every section they name must
 * exist there as a heading, and the remedies of the setup failures carry the link to their step.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { failureToAppError, mapGoogleError } from '../../src/google/google-errors';
import { parseServiceAccountKey } from '../../src/google/service-account-key';
import { GUIDE_SECTIONS, SETUP_GUIDE } from '../../src/google/setup-guide';
import { TokenEndpointError } from '../../src/google/token-broker';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const guide = readFileSync(join(__dirname, '..', '..', SETUP_GUIDE), 'utf8');
const anchors = new Set([...guide.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1])));

test.each(Object.entries(GUIDE_SECTIONS))('the guide has the section "%s" (#%s)', (_step, section) => {
  expect(anchors).toContain(section);
});

test('a delegation Google refused: the remedy names the step and links its section', () => {
  const f = mapGoogleError(
    new TokenEndpointError(
      401,
      'unauthorized_client',
      'Client is unauthorized to retrieve access tokens using this method.',
    ),
    { api: 'token', clientId: '1234', scopes: ['https://www.googleapis.com/auth/calendar'] },
  );
  expect(failureToAppError(f).extensions.remedy).toContain(`${SETUP_GUIDE}#${GUIDE_SECTIONS.delegation}`);
});

test("a key file that is not one: the message links the guide's key step", () => {
  expect(() => parseServiceAccountKey('{"type":"authorized_user"}', ['https://oauth2.googleapis.com/token'])).toThrow(
    `${SETUP_GUIDE}#${GUIDE_SECTIONS.key}`,
  );
});
