"""soulchat.evaluate"""
