/** The error thrown for every bad-input case; its message starts with the file name. */
export class KerasFileError extends Error {
  /** The file concerned, when known. */
  readonly fileName?: string;
  constructor(message: string, fileName?: string) {
    super(fileName !== undefined ? `${fileName}: ${message}` : message);
    this.name = 'KerasFileError';
    this.fileName = fileName;
  }
}

