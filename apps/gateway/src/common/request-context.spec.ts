import { wantsText } from './request-context';

describe('wantsText (content negotiation)', () => {
  test.each([
    [undefined, undefined, false],
    [undefined, 'application/json', false],
    [undefined, 'text/plain', true],
    [undefined, 'text/plain, application/json', false],
    [undefined, 'text/plain;q=1, application/json;q=0.5', true],
    [undefined, '*/*', false],
    [undefined, 'text/*', true],
    ['json', 'text/plain', false],
    ['text', 'application/json', true],
  ] as const)('format=%s Accept=%s -> text %s', (format, accept, text) => {
    expect(wantsText(format, accept)).toBe(text);
  });
});
