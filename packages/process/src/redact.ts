/**
 * Hides credentials in a command line before it is logged: `user:password@` in URLs and the
 * value after options that carry secrets.
 */
export function redactArgs(args: readonly string[]): string[] {
  const secretOptions = new Set(['-password', '--password', '-passphrase', '-headers']);
  return args.map((arg, i) => {
    if (i > 0 && secretOptions.has(args[i - 1])) return '***';
    return redactUrl(arg);
  });
}

/**
 * Hides secrets in URLs found in `text`: the password of `scheme://user:password@host`, and the
 * values of query parameters such as `token`, `password`, `key` or `secret`.
 */
export function redactUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/gi, '$1:***@')
    .replace(/([?&](?:token|access_token|password|passwd|pass|pwd|key|apikey|api_key|secret|auth|sig|signature)=)[^&#\s]*/gi, '$1***');
}
