/**
 * The DataSource the TypeORM CLI uses (`npm run migration:run`). It reads only
 * the database settings (DATABASE_URL, or SQLite under DATA_DIR / SQLITE_PATH).
 */
import 'reflect-metadata';
import { loadDatabaseConfig } from './src/config';
import { createDataSource } from './src/db/data-source';

export default createDataSource(loadDatabaseConfig());
