"""Push subscriptions, the reminder dispatcher and the Web Push sender."""
