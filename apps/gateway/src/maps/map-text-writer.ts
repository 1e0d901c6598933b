/** pmap text the agent rendered, piped as it arrives (the agent says its length up front). */
import type { GetMemoryMapResponse } from '@app/proto';
import type { MapBodyWriter } from './map-stream';

export class MapTextWriter implements MapBodyWriter {
  minBytes(first: GetMemoryMapResponse): number {
    return Number(first.textBytes);
  }

  chunk(c: GetMemoryMapResponse): Buffer {
    return c.text;
  }

  end(): string {
    return '';
  }
}
