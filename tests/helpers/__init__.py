"""What several test modules share: implementation loading, hypothesis strategies, loopback peers."""
