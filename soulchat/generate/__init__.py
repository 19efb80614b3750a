"""soulchat.generate"""
