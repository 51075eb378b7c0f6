// Integration tests talk to real servers: give each test more than jest's 5 s default.
import { jest } from '@jest/globals';

jest.setTimeout(180_000);
