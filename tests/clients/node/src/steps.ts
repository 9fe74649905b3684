// What both TypeScript clients share: the run's settings, Django REST framework's messages, the
// step runner that prints `e2e: <client>: <step> ... ok|FAILED`, and the compile-time type
// equality the steps use to show that a body has the generated type.

/** The quickstart's messages, as Django REST framework words them. */
export const BAD_CREDENTIALS = "Unable to log in with provided credentials.";
export const NOT_PROVIDED = "Authentication credentials were not provided.";
export const INVALID_TOKEN = "Invalid token.";
export const NO_PERMISSION = "You do not have permission to perform this action.";

/** The scope the quickstart lets a login ask for (`AuthApi::grantable_scopes`). */
export const SCOPE = "orders:read";

export interface Settings {
  /** The API's base URL: the quickstart's root plus the document's server, `/api`. */
  apiUrl: string;
  username: string;
  password: string;
}

/** Reads E2E_BASE_URL (the quickstart's root), E2E_USERNAME and E2E_PASSWORD. */
export function settings(): Settings {
  const need = (name: string): string => {
    const value = process.env[name];
    if (!value) {
      throw new Error(`${name} is not set`);
    }
    return value;
  };
  return {
    apiUrl: `${need("E2E_BASE_URL").replace(/\/$/, "")}/api`,
    username: need("E2E_USERNAME"),
    password: need("E2E_PASSWORD"),
  };
}

/**
 * `true` when A and B are the same type (not merely assignable either way), e.g.
 * `expectType<Equal<typeof data, Me>>()`: a generated type that degrades to `any`, `unknown`,
 * a content map or a union of other bodies fails the type check.
 */
export type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** A compile-time assertion: compiles only if its type argument is `true`. */
export function expectType<_Check extends true>(): void {}

/** A failed expectation, with what was expected and what came. */
export class Mismatch extends Error {}

/** Throws a Mismatch showing both values unless `actual` equals `expected` (as JSON). */
export function expectEqual<T>(what: string, actual: T, expected: T): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    throw new Mismatch(`${what}: expected ${e}, got ${a}`);
  }
}

/** Returns `value`, or throws a Mismatch naming `what` when it is undefined. */
export function present<T>(what: string, value: T | undefined): T {
  if (value === undefined) {
    throw new Mismatch(`${what}: missing`);
  }
  return value;
}

/** Runs one client's steps in order, printing one line each; counts the failures. */
export class Steps {
  failures = 0;

  constructor(private readonly client: string) {}

  async step(name: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
      console.log(`e2e: ${this.client}: ${name} ... ok`);
    } catch (err) {
      this.failures += 1;
      console.log(`e2e: ${this.client}: ${name} ... FAILED`);
      const detail = err instanceof Mismatch ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
      for (const line of detail.split("\n")) {
        console.log(`    ${line}`);
      }
    }
  }

  /** Sets the process's exit code: 1 if any step failed. */
  finish(): void {
    process.exitCode = this.failures === 0 ? 0 : 1;
  }
}

/** A key from an earlier step, or a Mismatch saying which step did not provide it. */
export class Key {
  private value: string | undefined;

  constructor(private readonly from: string) {}

  set(key: string): void {
    this.value = key;
  }

  get(): string {
    if (this.value === undefined) {
      throw new Mismatch(`no key: ${this.from} failed`);
    }
    return this.value;
  }
}
