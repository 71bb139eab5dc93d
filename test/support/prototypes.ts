import { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The prototype changes of requests and responses while `work` runs (constructor names): express sets its prototypes
 * on each with Object.setPrototypeOf, which must find them already set (src/http/express-prototypes.ts).
 */
export async function prototypeChangesDuring(work: () => Promise<void>): Promise<string[]> {
  const changed: string[] = [];
  const real = Object.setPrototypeOf;
  const spy = jest.spyOn(Object, 'setPrototypeOf').mockImplementation((o: object, proto: object | null) => {
    if ((o instanceof IncomingMessage || o instanceof ServerResponse) && Object.getPrototypeOf(o) !== proto)
      changed.push(o.constructor.name);
    return real(o, proto);
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return changed;
}
