"""PostgreSQL tables and repositories, the SMTP sender and the e-mail templates."""
