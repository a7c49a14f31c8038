import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/', 'models/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The playground runs in the browser: a plain script, no Node globals.
    files: ['src/api/playground/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        Blob: 'readonly',
        DataView: 'readonly',
        FileReader: 'readonly',
        Option: 'readonly',
        URL: 'readonly',
        WebSocket: 'readonly',
        console: 'readonly',
        createImageBitmap: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        setTimeout: 'readonly',
        require: 'off',
        module: 'off',
        __dirname: 'off',
        process: 'off',
      },
    },
  },
);
