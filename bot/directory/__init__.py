"""The referral directory: models, migrations, import/export and search of services."""
