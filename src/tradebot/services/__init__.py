"""Services: storage of users' settings and data, secrets, health, trading control."""
